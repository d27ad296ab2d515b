"""FastAPI app factory and thin routers: parse, call one service, serialise."""
