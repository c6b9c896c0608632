"""Messages to customers through the outbox: queued with the change that caused them
(outbox), delivered in the background (delivery), never to an opted-out number (consent).
The providers that carry them are adapters (settle.adapters.sms, settle.adapters.email)."""
