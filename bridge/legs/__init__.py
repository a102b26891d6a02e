"""Carrier legs: each terminates one way of carrying a call and drives a CallRuntime."""
