"""Numbers as people say and write them, in the six languages: the words for digits and
tens ("quatre-vingt", "zweiundvierzig"), the fillers said between groups ("uh", "dash"),
the words that repeat a digit ("double four") and the prefixes glued to a number ("Nº").
settle.privacy.cards reads card numbers with them."""

from __future__ import annotations

import unicodedata

# Words said between the parts of one number: hesitations, and separators read out.
FILLERS = {
    "uh",
    "um",
    "uhm",
    "erm",
    "er",
    "ah",
    "eh",
    "euh",
    "hum",
    "äh",
    "ähm",
    "ehm",
    "emm",
    "mmm",
    "hmm",
    "ok",
    "okay",
    "then",
    "dash",
    "hyphen",
    "space",
    "sorry",
    "comma",
    "dot",
    "point",
    "slash",
    "espacio",
    "guion",
    "coma",
    "punto",
    "barra",
    "perdon",
    "espace",
    "tiret",
    "virgule",
    "pardon",
    "desole",
    "leerzeichen",
    "strich",
    "bindestrich",
    "komma",
    "punkt",
    "schragstrich",
    "spazio",
    "trattino",
    "virgola",
    "scusa",
    "espaco",
    "hifen",
    "virgula",
    "ponto",
    "desculpa",
}
# "forty and two" is no number, but "vingt et un", "treinta y uno", "quarenta e dois" are.
CONNECTORS = {"and", "y", "e", "et", "und"}
# "double four", "triple zero" (how numbers are read out in English and elsewhere).
REPEATS = {
    "double": 2,
    "triple": 3,
    "doppio": 2,
    "doble": 2,
    "doppelt": 2,
    "dupla": 2,
    "duplo": 2,
    "triplo": 3,
    "tripla": 3,
}
# Words glued in front of a number that still leave it a number ("Nº4111…", "card:"…).
PREFIXES = {"n", "no", "nº", "n°", "nr", "num", "card", "cc", "visa", "amex", "mc", "pan"}


def _number_words() -> dict[str, str]:
    """Number words (folded: lower case, no accents) to the digits they stand for."""
    units = {
        "en": "zero one two three four five six seven eight nine",
        "es": "cero uno dos tres cuatro cinco seis siete ocho nueve",
        "fr": "zero un deux trois quatre cinq six sept huit neuf",
        "de": "null eins zwei drei vier funf sechs sieben acht neun",
        "it": "zero uno due tre quattro cinque sei sette otto nove",
        "pt": "zero um dois tres quatro cinco seis sete oito nove",
    }
    words: dict[str, str] = {}
    for line in units.values():
        for value, word in enumerate(line.split()):
            words[word] = str(value)
    words.update(
        {
            "oh": "0",
            "o": "0",
            "nought": "0",
            "naught": "0",
            "nil": "0",
            "una": "1",
            "une": "1",
            "ein": "1",
            "eine": "1",
            "zwo": "2",
            "uma": "1",
            "duas": "2",
            "meia": "6",
        }
    )
    teens = {
        "en": "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
        "es": "diez once doce trece catorce quince dieciseis diecisiete dieciocho diecinueve",
        "fr": "dix onze douze treize quatorze quinze seize dix-sept dix-huit dix-neuf",
        "de": "zehn elf zwolf dreizehn vierzehn funfzehn sechzehn siebzehn achtzehn neunzehn",
        "it": "dieci undici dodici tredici quattordici quindici sedici diciassette diciotto "
        "diciannove",
        "pt": "dez onze doze treze catorze quinze dezasseis dezassete dezoito dezanove",
    }
    for line in teens.values():
        for value, word in enumerate(line.split(), start=10):
            if "-" not in word:
                words[word] = str(value)
    words.update({"quatorze": "14", "dezesseis": "16", "dezessete": "17", "dezenove": "19"})
    tens = {
        "en": "twenty thirty forty fifty sixty seventy eighty ninety",
        "es": "veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa",
        "fr": "vingt trente quarante cinquante soixante",
        "de": "zwanzig dreissig vierzig funfzig sechzig siebzig achtzig neunzig",
        "it": "venti trenta quaranta cinquanta sessanta settanta ottanta novanta",
        "pt": "vinte trinta quarenta cinquenta sessenta setenta oitenta noventa",
    }
    for line in tens.values():
        for value, word in enumerate(line.split(), start=2):
            words[word] = str(value * 10)
    words.update(
        {
            "fourty": "40",
            "vingts": "20",
            "septante": "70",
            "huitante": "80",
            "octante": "80",
            "nonante": "90",
        }
    )
    # One-word compounds: veintidós, zweiundvierzig, quarantadue / trentotto.
    es_units = "uno dos tres cuatro cinco seis siete ocho nueve".split()
    for value, unit in enumerate(es_units, start=1):
        words[f"veinti{unit}"] = str(20 + value)
    de_units = "ein zwei drei vier funf sechs sieben acht neun".split()
    de_tens = "zwanzig dreissig vierzig funfzig sechzig siebzig achtzig neunzig".split()
    it_units = "uno due tre quattro cinque sei sette otto nove".split()
    it_tens = "venti trenta quaranta cinquanta sessanta settanta ottanta novanta".split()
    for ten_value, (de_ten, it_ten) in enumerate(zip(de_tens, it_tens, strict=False), start=2):
        for value, (de_unit, it_unit) in enumerate(zip(de_units, it_units, strict=False), start=1):
            number = str(ten_value * 10 + value)
            words[f"{de_unit}und{de_ten}"] = number
            stem = it_ten[:-1] if it_unit[0] in "ou" else it_ten  # ventuno, trentotto
            words[f"{stem}{it_unit}"] = number
    return words


NUMBER_WORDS = _number_words()


def fold(word: str) -> str:
    """Lower case without accents: 'Fünf' -> 'funf', 'TRÊS' -> 'tres'."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ß", "ss")
