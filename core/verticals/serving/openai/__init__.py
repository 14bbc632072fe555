"""The OpenAI API: its router, protocol (request and response models) and in-process streams."""
