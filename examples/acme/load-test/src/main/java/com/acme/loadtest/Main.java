package com.acme.loadtest;

public class Main {
    public static void main(String[] args) {
        System.out.println("load test");
    }
}
