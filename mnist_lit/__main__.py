import sys

try:
    from mnist_lit.cli import main  # importing PyTorch and Lightning takes seconds: Ctrl-C may come here
except KeyboardInterrupt:
    print("error: interrupted", file=sys.stderr)
    sys.exit(130)

main()
