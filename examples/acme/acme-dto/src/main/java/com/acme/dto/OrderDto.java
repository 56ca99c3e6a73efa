package com.acme.dto;

public record OrderDto(String id, long amountCents) {}
