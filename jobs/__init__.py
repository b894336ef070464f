"""RQ job functions: thin wrappers that load inputs, call pure functions from
`processing/`, store outputs and record the outcome. Workers import them by dotted path."""
