print("neo-server")
