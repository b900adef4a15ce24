import gc
import sys

SIZE = 50_000  # the talk: 1_000_000, in `while True:`; bounded here
ITERATIONS = 10


def _exp_6() -> None:
    some_list: list[int] = [i for i in range(SIZE)]


def exp_6() -> None:
    if "--gc-disable" in sys.argv:
        gc.disable()
    blocks = []
    for _ in range(ITERATIONS):  # while True:
        _exp_6()
        blocks.append(sys.getallocatedblocks())
    verdict = "growing" if blocks[-1] - blocks[0] > SIZE // 2 else "flat"
    print(f"memory {verdict}: {ITERATIONS} x [i for i in range({SIZE})]")


if __name__ == "__main__":
    exp_6()
