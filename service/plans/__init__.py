"""Use cases: each opens one transaction, loads what the domain needs, calls it,
writes the result. Resolvers call these and nothing below them."""
