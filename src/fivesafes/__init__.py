"""fivesafes: a trusted research environment for linked administrative data.

The packages follow the data flow: ``synth`` makes a synthetic world of provider
files, ``data`` ingests them (identifiers apart from content), and the later
stages (linkage, provisioning, analysis, outputs) build on the store it writes.
"""

__version__ = "0.1.0"
