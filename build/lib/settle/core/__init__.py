"""The core every feature uses and that uses nothing of Settle: money in minor units, phone
numbers in E.164, the customer-facing wording in six languages, and the audit log."""
