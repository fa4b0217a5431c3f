print("nabla")
