"""The dashboard: server-rendered pages under ``/dashboard`` (docs/dashboard.md).

``routes.py`` holds the pages, ``session.py`` the Keystone login and its
cookie, ``listing.py`` the policy-filtered pages of a collection (the same
service calls and policy decisions as the API's list), ``templates/`` the
Jinja2 templates.
"""
