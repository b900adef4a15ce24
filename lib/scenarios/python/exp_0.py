import ctypes
import gc
import sys

ref = ctypes.c_long.from_address


class A:
    def __init__(self) -> None:
        self.my_obj_attr: str = "This is kakoyto text"


def exp_0() -> None:
    if "--gc-disable" in sys.argv:
        gc.disable()

    a = A()
    a_id = id(a)

    ref_a = ref(a_id).value
    print(f"1 - obj a. Obj id {a_id = }")
    print(f"2 - obj a. Ref count {ref_a = }")
    print("*" * 10)

    b = a

    ref_a = ref(a_id).value
    print(f"3 - obj a. Ref count {ref_a = }")
    print("*" * 10)

    del b
    ref_a = ref(a_id).value
    print(f"4 - obj a. Ref count {ref_a = }")
    print("*" * 10)

    ref_a = ref(a_id).value
    print(f"5 - a. Ref count {ref_a = }")
    raw_id_value = ctypes.cast(a_id, ctypes.py_object).value
    print(f"Obj a. Value from id {raw_id_value = }")
    print(raw_id_value.my_obj_attr)
    print("*" * 10)

    ref_a = ref(a_id).value
    print(f"6 - a. Ref count {ref_a = }")
    print("*" * 10)

    del raw_id_value
    del a
    ref_a = ref(a_id).value
    print(f"7 - a. Ref count {ref_a = }")
    print("*" * 10)


if __name__ == "__main__":
    exp_0()
