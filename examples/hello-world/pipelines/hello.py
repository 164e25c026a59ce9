"""Greets someone: the demo pipeline of flowerpower-job-queue."""


def greeting(name: str) -> str:
    """The greeting for `name`."""
    return f"Hello, {name}!"


def shout(greeting: str) -> str:
    """The greeting, louder."""
    return greeting.upper()
