import ctypes
import gc
import sys
from typing import Self

ref = ctypes.c_long.from_address


class Node:
    def __init__(self, val: int, next: Self | None = None) -> None:
        self.val: int = val
        self.next: Self | None = next

    def __str__(self) -> str:
        return f"Node val is {self.val}"


def _exp_5() -> int:
    root = Node(val=0)

    root_id = id(root)
    root_ref_count = ref(root_id).value
    print("1", f"root ref count {root_ref_count = }")

    root.next = Node(
        val=1,
        next=Node(
            val=2,
            next=root,
        ),
    )
    root_ref_count = ref(root_id).value
    print("2", f"root ref count {root_ref_count = }")

    del root
    root_ref_count = ref(root_id).value
    print("3", f"root ref count {root_ref_count = }")
    print("4.0 -> ", ctypes.cast(root_id, ctypes.py_object).value)
    print("4.1 -> ", ctypes.cast(root_id, ctypes.py_object).value.next)
    print("*" * 10)

    if "--gc-collect" in sys.argv:
        gc.collect()

    return root_id


def exp_5() -> None:
    root_id = _exp_5()
    print("5 -> ", ctypes.cast(root_id, ctypes.py_object).value)
    print("*" * 10)


if __name__ == "__main__":
    exp_5()
