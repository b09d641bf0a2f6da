from nnfit.entry import main

main()
