from genpolicy.cli import main

main()
