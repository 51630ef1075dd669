"""Patient messages coming in: `queue` holds what webhooks accepted until the worker takes it;
`pipeline` is what happens to each message, its steps listed in order in one module."""
