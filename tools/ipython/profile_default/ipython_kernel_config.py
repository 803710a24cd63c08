# Kernel settings for the book build and the notebook tests (the Makefile sets IPYTHONDIR to this folder).
# TensorFlow's C++ code writes a line to the process's stderr when it is imported on a machine without a GPU
# ("Could not find cuda drivers"); TF_CPP_MIN_LOG_LEVEL does not silence it. Python-level output is still
# captured as usual; only output written directly to the C-level file descriptors stays out of the pages.
c.IPKernelApp.capture_fd_output = False  # noqa: F821 (`c` is provided by IPython's config loader)
# Many kernels run at once (pytest -n 2, the book build); they must not share one history database on disk.
c.HistoryManager.hist_file = ":memory:"  # noqa: F821
