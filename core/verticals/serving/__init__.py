"""The gateway: one FastAPI process that serves every registered model and meters every request.

``create_app`` (in ``app``) builds the ASGI app; ``verticals serve`` (in ``commands``) runs it.
"""
