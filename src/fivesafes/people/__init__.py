"""Safe people: the learning platform.

A course catalogue (:mod:`.catalogue`), self-paced lessons and quizzes with progress
saved as the learner goes (:mod:`.learning`), statements of participation with a
verification code (:mod:`.statements`), accreditation that expires
(:mod:`.accreditation`) and precision training, the courses a person still needs
for a project's datasets and their role (:mod:`.plan`), and themed workgroups
with live sessions and resources (:mod:`.workgroups`). Demo content lives in
``content/`` and is loaded by :mod:`.demo`.
"""
