"""The task outbox: a task enqueued in a transaction is a row of it until the broker has it."""
