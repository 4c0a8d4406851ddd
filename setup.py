"""The one compiled module: the engine's flat JSON Lines parser (export_pipelines/normalize/_jsonlines.c).

Everything else is declared in pyproject.toml; setuptools reads C extensions from here.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "export_pipelines.normalize._jsonlines",
            sources=["export_pipelines/normalize/_jsonlines.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
