from genpolicy.entry import main

main()
