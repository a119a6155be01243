"""The book's chapters, one module (or small subpackage) each, all of the same shape.

Every chapter exposes ``PROFILES`` (profile name -> typed config), experiment functions
that return result dataclasses, figure functions, and ``claims(results, run)`` that
returns the chapter's claims table. A chapter imports the tools, the engine and the
base (``overparam.models``, ``overparam.data``, ...), never another chapter.
"""
