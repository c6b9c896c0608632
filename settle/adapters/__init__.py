"""Ports to the outside services: Stripe (and the local sandbox standing in for it), SMTP,
Twilio's texts and outbound calls. Each is a small class speaking the real SDK; no business
rules."""
