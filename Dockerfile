# The codemix image for Kubernetes (rayjob.yaml): Ray's image with the project installed.
#   docker build -t REGISTRY/codemix:gpu .
#   docker build -t REGISTRY/codemix:cpu --build-arg BASE=rayproject/ray:2.60.0-py311-cpu \
#       --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu .
# PyPI's Linux wheel of the pinned torch is its CUDA build (the GPU image); the head's image
# takes the CPU build, since the sweep's driver trains nothing.
ARG BASE=rayproject/ray:2.60.0-py311-gpu
FROM ${BASE}
ARG TORCH_INDEX=https://pypi.org/simple
RUN pip install --no-cache-dir torch==2.13.0 --index-url ${TORCH_INDEX}
COPY --chown=ray:users . /home/ray/codemix
RUN pip install --no-cache-dir -e /home/ray/codemix boto3
WORKDIR /home/ray/codemix
