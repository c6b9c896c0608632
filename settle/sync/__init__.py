"""Outbound sync with the business's billing system: every change to money (a payment, a
refund, a plan, a dispute, a credit, an opt-out) becomes a signed event POSTed to the
billing system's endpoints (SETTLE_SYNC_URL), written in the same transaction as the change
(a transactional outbox) and delivered in the background, at least once, in order per
invoice and endpoint; and the accounting export (a bank-feed CSV). docs/billing-sync.md."""
