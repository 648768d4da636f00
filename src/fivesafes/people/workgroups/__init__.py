"""Themed workgroups on the learning platform (e.g. "Courts & Justice").

A workgroup has a theme, a description, members who join and leave
(:mod:`.groups`), live sessions that members enrol on, in person or live online,
with a fee, a capacity and enrolment open or closed (:mod:`.live`), and resources,
links or files, for its members (:mod:`.groups`). Trainers create and run them;
what a trainer types is read and checked by :mod:`.forms`. The tables are in
:mod:`.models`.
"""
