"""What runs before the event loop exists: lock, bind, spawn, and the OS helpers around them.

Standard library only, so the child is running before anyio, starlette, uvicorn and
prometheus-client are imported (about 240 ms of start-up that the child does not wait for).
"""
