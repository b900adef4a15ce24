import ctypes

ref = ctypes.c_long.from_address


class A:
    def __init__(self) -> None:
        self.my_obj_attr: str = "This is kakoyto text"
