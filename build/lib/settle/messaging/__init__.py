"""Messages to customers through the outbox: queued with the change that caused them,
delivered in the background, never to an opted-out number."""
