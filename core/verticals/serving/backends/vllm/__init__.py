"""The vLLM backend: a proxy to a vLLM OpenAI server, local (supervised) or external, and its relay."""
