import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# servers started by the tests serve gRPC only where a test asks for it, on a port of its own
os.environ.setdefault("CTR_GRPC_PORT", "0")
# and run one process (the default is one worker per core) where a test does not ask for --workers
os.environ.setdefault("CTR_WORKERS", "1")
sys.path.insert(0, str(Path(__file__).parent))
