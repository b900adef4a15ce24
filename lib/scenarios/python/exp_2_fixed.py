import ctypes

ref = ctypes.c_long.from_address


class A:
    def __init__(self) -> None:
        self.my_obj_attr: str = "This is kakoyto text"


def exp_2() -> int:
    a = A()
    a_id = id(a)

    ref_a = ref(a_id).value
    print(f"1 - obj a. Obj id {a_id = }")
    print(f"2 - obj a. Ref count {ref_a = }")
    print("*" * 10)
    return a_id  # fixed: the id


if __name__ == "__main__":
    a_id = exp_2()
    ref_a = ref(a_id).value
    print(f"3 - a. Ref count {ref_a = }")
    raw_id_value = ctypes.cast(a_id, ctypes.py_object).value
    print(f"Obj a. Value from id {raw_id_value = }")
    print(raw_id_value.my_obj_attr)
    print("*" * 10)
