#!/bin/sh
# The original pipeline's deploy step, run on the host over SSH (kept for history).
set -e
aws ecr get-login-password | docker login --username AWS --password-stdin "$ECR_REGISTRY"
for tag in $(aws ecr list-images --repository-name acme-app --query 'imageIds[].imageTag' --output text); do
  case "$tag" in *"_$VERSION") docker pull "$ECR_REGISTRY/acme-app:$tag" ;; esac
done
docker-compose -f docker-compose-prod.yaml up -d
docker image prune -f
