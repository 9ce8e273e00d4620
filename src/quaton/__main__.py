from quaton.cli import main

main()
