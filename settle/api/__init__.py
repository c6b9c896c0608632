"""The billing-system API (/api/v1): the business's billing system pushes customers and
invoices to Settle as they change, and reads an invoice's balance back.

It owns its API keys (hashed; `settle api-key …`), the idempotency records of its writes,
and the routes; the rows it writes are checked exactly as the CSV import checks them
(settle.billing.importer). Nothing here imports the composition root: the service hands
the routes its store and settings (settle.app.service).
"""
