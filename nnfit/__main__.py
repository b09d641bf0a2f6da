from nnfit.cli import main

main()
