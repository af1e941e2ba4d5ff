"""The CNI contract: spec types, version negotiation, errors, the plugin skeleton, the invoker.

Standard library only: the plugin executable imports this package on every call.
"""
