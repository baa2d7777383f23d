from vidssl.cli import main

main()
