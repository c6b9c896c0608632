"""Conversation review for trainers: the tracker's conversations read as turns (intent,
confidence, fallbacks, hand-offs), the intents operators label turns with, and the NLU
training file those labels make (`settle review export`)."""
