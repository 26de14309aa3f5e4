"""MCS: the long-lived push connection (mtalk.google.com:5228).

``codec`` is sans-IO (bytes in, events out); ``transport`` is the only module here that
touches sockets.
"""
