"""``kagdigits serve``: a draw-a-digit web page and an HTTP API over saved ``.kd`` models.

:mod:`~kagdigits.serve.preprocess` lays drawings and photos out as MNIST was made,
:mod:`~kagdigits.serve.models` loads and checks the served models, and
:mod:`~kagdigits.serve.app` is the FastAPI application and its uvicorn server. Needs the
``serve`` extra (``pip install -e ".[serve]"``).
"""
