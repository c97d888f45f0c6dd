"""The readers of ``quark import neutron``: Neutron's API (``api.py``) or its database (``db.py``)."""
