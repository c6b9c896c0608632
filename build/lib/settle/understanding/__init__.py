"""What a customer said, offline and in six languages: their free-text answers, the language
they write or speak, and text turned into speech for phone calls."""
