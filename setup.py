"""Build the optional compiled core (linuxvm/accel/_cpage_alloc.pyx, _cuaccess.pyx) with the
system C compiler; everything else is in pyproject.toml.

The extension is optional: where no compiler (or no Cython) is present the install still
succeeds and linuxvm uses its pure-Python accelerators, saying so in one warning line
(linuxvm/accel/ccore.py).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:                   # no Cython: the pure-Python accelerators only
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension(f"linuxvm.accel.{name}", [f"linuxvm/accel/{name}.pyx"],
                   extra_compile_args=["-O2"], optional=True)
         for name in ("_cpage_alloc", "_cuaccess")],
        compiler_directives={"language_level": 3}, quiet=True)
    for ext in ext_modules:          # cythonize makes new Extensions: keep them optional
        ext.optional = True

setup(ext_modules=ext_modules)
