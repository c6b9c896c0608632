"""Who may do what: what proves a customer's identity on each channel, which requests we
believe (signatures, trusted proxies, the operator token, development mode), how many
guesses an identity check gets, and which webhooks were already seen.

Nothing here imports Rasa: channels (settle_rasa) and actions seal and read proofs through
`proof`, the Settle service checks requests through `requests`.
"""
