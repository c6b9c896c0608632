"""Invoices and what is owed: the ledger (paid = payments − refunds), who the customer is,
payment links, reconciliation of Stripe's events, CSV import, disputes and hand-offs."""
